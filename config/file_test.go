package config

import (
	"maps"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	text := strings.Join([]string{
		"# comment",
		"",
		"   # indented comment",
		"PLAIN=1",
		"export EXPORTED=2",
		"SINGLE='a b $c \"d\"'",
		`DOUBLE="a \"b\" \$c \\ \x"`,
		`DEFAULTED="${DEFAULTED:-mirantis/kubeadm-dind-cluster:v1.10}"`,
		`BARE_DEFAULT=${BARE_DEFAULT:-8080}`,
		`QUOTED_DEFAULT=${QUOTED_DEFAULT:-"kube-node-"}`,
		`NO_COLON="${NO_COLON-x}"`,
		`EMPTY_DEFAULT="${EMPTY_DEFAULT:-}"`,
		"EMPTY=",
		"TRAILING=y  # a comment",
		`TRAILING_QUOTED="y z" # a comment`,
		"HASH=a#b",
		"WINDOWS=crlf\r",
		"TWICE=1",
		"TWICE=2",
	}, "\n")
	got, err := parseFile("config.sh", text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":           "1",
		"EXPORTED":        "2",
		"SINGLE":          `a b $c "d"`,
		"DOUBLE":          `a "b" $c \ \x`,
		"DEFAULTED":       "mirantis/kubeadm-dind-cluster:v1.10",
		"BARE_DEFAULT":    "8080",
		"QUOTED_DEFAULT":  "kube-node-",
		"NO_COLON":        "x",
		"EMPTY_DEFAULT":   "",
		"EMPTY":           "",
		"TRAILING":        "y",
		"TRAILING_QUOTED": "y z",
		"HASH":            "a#b",
		"WINDOWS":         "crlf",
		"TWICE":           "2",
	}
	values := map[string]string{}
	for k, v := range got {
		values[k] = v.value
	}
	if !maps.Equal(values, want) {
		t.Errorf("got  %q\nwant %q", values, want)
	}
	if got["PLAIN"].line != 4 || got["TWICE"].line != 19 {
		t.Errorf("lines of PLAIN, TWICE = %d, %d; want 4, 19 (the last assignment)", got["PLAIN"].line, got["TWICE"].line)
	}
}

func TestParseFileErrors(t *testing.T) {
	cases := []struct {
		line, wantErr string
	}{
		{"set -o errexit", `config.sh:2: "set -o errexit" is not an assignment`},
		{"NUM_NODES = 2", "config.sh:2: "},
		{"export NUM_NODES", "config.sh:2: "},
		{"source other.sh", "config.sh:2: "},
		{"A=$HOME", "config.sh:2: A: "},
		{`A="$HOME/x"`, "config.sh:2: A: "},
		{"A=`date`", "config.sh:2: A: "},
		{`A="${B:-x}"`, "config.sh:2: A: only A=\"${A:-default}\" can refer to a variable, not ${B}"},
		{`A="${A:-${HOME}}"`, "config.sh:2: A: "},
		{"A=x y", `config.sh:2: A: unexpected "y" after the value`},
		{"A='open", "config.sh:2: A: missing closing '"},
		{`A="open`, `config.sh:2: A: missing closing "`},
		{`A="x"y`, "config.sh:2: A: "},
		{"A=x;y", "config.sh:2: A: "},
	}
	for _, tc := range cases {
		_, err := parseFile("config.sh", "# first line\n"+tc.line+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want it to contain %q", tc.line, err, tc.wantErr)
		}
	}
}

func TestParseFileReportsEveryBadLine(t *testing.T) {
	_, err := parseFile("config.sh", "A=1\nbad one\nB=2\nC=$D\n")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"config.sh:2: ", "config.sh:4: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}
