package shell

import (
	"fmt"
	"os"
	"strings"
)

// ProcessStart is when process pid started, in clock ticks since boot, or
// "" when no such process runs. With the PID it names one process among all
// that ever ran on this host: a reused PID has another start time.
func ProcessStart(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name, in parentheses, may hold spaces: count after it.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(stat[i+1:]))
	const startField = 22 - 3 // field 22 of stat, counted from field 3
	if len(f) <= startField {
		return ""
	}
	return f[startField]
}
