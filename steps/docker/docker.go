// Package docker is the only place dind-cluster talks to the Docker engine:
// typed methods over the docker CLI (so DOCKER_HOST and the CLI's contexts
// apply, and a remote engine works), and typed errors, so that nothing above
// it builds a docker command line or reads docker's stderr. Files move as
// tar streams (docker cp, docker exec), never through a path of this
// machine, which a remote engine cannot see.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Kinds of failure callers tell apart; test with errors.Is.
var (
	ErrNotFound     = errors.New("no such object")
	ErrNameInUse    = errors.New("name already in use")
	ErrPortTaken    = errors.New("port already allocated")
	ErrAddressTaken = errors.New("address already in use on the network")
	ErrInUse        = errors.New("still in use")
	ErrOverlap      = errors.New("address range overlaps another network")
	ErrFrozen       = errors.New("a process in the container is frozen")
	ErrUnreachable  = errors.New("the Docker engine cannot be reached")

	// errRemovalInProgress: Remove waits for the removal to end.
	errRemovalInProgress = errors.New("its removal is already in progress")
)

// Error is a failed docker command: what was attempted, the kind of failure
// when it is one of the above, and the command's own error.
type Error struct {
	Op   string
	Kind error // nil when the failure is of no known kind
	Err  error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// kindsByText maps what docker (CLI and daemon, 20.10 to 28) says to a kind.
// This table is the one place that reads docker's words.
var kindsByText = []struct {
	text string
	kind error
}{
	{"no such container", ErrNotFound},
	{"no such volume", ErrNotFound},
	{"no such image", ErrNotFound},
	{"no such object", ErrNotFound},
	{"is not connected to network", ErrNotFound},
	{"no public port", ErrNotFound},
	{"could not find the file", ErrNotFound},
	{"is already in use by container", ErrNameInUse},
	{"already exists", ErrNameInUse},
	{"port is already allocated", ErrPortTaken},
	{"bind: address already in use", ErrPortTaken},
	{"address already in use", ErrAddressTaken},
	{"volume is in use", ErrInUse},
	{"active endpoints", ErrInUse},
	{"is being used by", ErrInUse},
	{"is using its referenced image", ErrInUse},
	{"overlaps with other one", ErrOverlap},
	{"did not receive an exit event", ErrFrozen},
	{"is already in progress", errRemovalInProgress},
	{"cannot connect to the docker daemon", ErrUnreachable},
	{"error during connect", ErrUnreachable},
}

var networkNotFound = regexp.MustCompile(`(network|endpoint) \S+ not found`)

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	text := strings.ToLower(err.Error())
	for _, k := range kindsByText {
		if strings.Contains(text, k.text) {
			return &Error{Op: op, Kind: k.kind, Err: err}
		}
	}
	if networkNotFound.MatchString(text) {
		return &Error{Op: op, Kind: ErrNotFound, Err: err}
	}
	return &Error{Op: op, Err: err}
}

// classifyExec classifies a failed `docker exec`, whose stderr is mostly the
// command's own: only what the engine said counts.
func classifyExec(op string, err error) error {
	if err == nil {
		return nil
	}
	text := strings.ToLower(err.Error())
	if strings.Contains(text, "error response from daemon") || strings.Contains(text, "error: no such") ||
		strings.Contains(text, "cannot connect to the docker daemon") || strings.Contains(text, "error during connect") {
		return classify(op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Error{Op: op, Err: err}
}

// CLI reaches the engine through the docker command.
type CLI struct{}

// run runs docker with args; op names the action in errors.
func (CLI) run(ctx context.Context, op string, args ...string) error {
	return classify(op, shell.Docker(args...).Run(ctx))
}

func (CLI) output(ctx context.Context, op string, args ...string) (string, error) {
	out, err := shell.Docker(args...).Output(ctx)
	return out, classify(op, err)
}

func (CLI) lines(ctx context.Context, op string, args ...string) ([]string, error) {
	out, err := shell.Docker(args...).Lines(ctx)
	return out, classify(op, err)
}

func (d CLI) stream(ctx context.Context, op string, stdin io.Reader, stdout io.Writer, args ...string) error {
	return classify(op, d.cmd(args, stdin, stdout).Run(ctx))
}

func (CLI) cmd(args []string, stdin io.Reader, stdout io.Writer) *shell.Cmd {
	cmd := shell.Docker(args...)
	if stdin != nil {
		cmd = cmd.WithStdin(stdin)
	}
	if stdout != nil {
		cmd = cmd.WithStdout(stdout)
	}
	return cmd
}

// Labels select or mark objects: key=value pairs.
type Labels map[string]string

// filterArgs turn labels into `--filter label=K=V` arguments; an empty
// value selects every object that has the label.
func (l Labels) filterArgs() []string {
	var out []string
	for _, kv := range l.Pairs() {
		out = append(out, "--filter", "label="+strings.TrimSuffix(kv, "="))
	}
	return out
}

// Pairs are the labels as sorted K=V strings.
func (l Labels) Pairs() []string {
	var out []string
	for k, v := range l {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func labelArgs(flag string, l Labels) []string {
	var out []string
	for _, kv := range l.Pairs() {
		out = append(out, flag, kv)
	}
	return out
}

// parseLabels reads docker's "k=v,k2=v2" label listing. Values with commas
// are cut there: ours have none.
func parseLabels(s string) Labels {
	out := Labels{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			out[k] = v
		} else if kv != "" {
			out[kv] = ""
		}
	}
	return out
}

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Err: fmt.Errorf(format, args...)}
}
