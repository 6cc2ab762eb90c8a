// Package shell runs external commands (docker, kubectl, go, mmdebstrap) the
// way a person would type them: the command line is logged when Debug is set,
// with its secrets redacted; stderr is captured into the error; the context
// stops the command.
//
// Each command runs in a process group of its own, which a cancelled context
// stops as a whole: SIGTERM, then SIGKILL after GracePeriod. The package uses
// os/exec directly for that: github.com/bitfield/script builds its exec.Cmd
// itself, so it can set no process group, kills only the direct child, at
// once, and waits forever for a process the child left holding its output.
// script filters what commands print.
package shell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/bitfield/script"
)

// Debug logs every command line to stderr, secrets redacted, with the
// command's own stderr. DIND_DEBUG sets it; the config file may too.
var Debug = os.Getenv("DIND_DEBUG") != ""

// Cmd is a command to run, built up with the With methods.
type Cmd struct {
	name            string
	args            []string
	stdin           io.Reader
	stdout          io.Writer
	env             []string
	uninterruptible bool
	terminal        bool
}

// Command prepares name with args.
func Command(name string, args ...string) *Cmd {
	return &Cmd{name: name, args: args}
}

// Docker prepares a docker CLI command; DOCKER_HOST and the other docker
// variables of the environment apply, so the engine may be remote.
func Docker(args ...string) *Cmd {
	return Command("docker", args...)
}

// WithStdin feeds r to the command's standard input.
func (c *Cmd) WithStdin(r io.Reader) *Cmd {
	c.stdin = r
	return c
}

// WithStdout streams the command's standard output to w.
func (c *Cmd) WithStdout(w io.Writer) *Cmd {
	c.stdout = w
	return c
}

// WithEnv adds KEY=VALUE pairs to the inherited environment.
func (c *Cmd) WithEnv(kv ...string) *Cmd {
	c.env = append(c.env, kv...)
	return c
}

// Uninterruptible lets the command run to its end even when the context is
// cancelled, for what must not die half-way, like dpkg; Run then returns the
// context's error. Being in a process group of its own, the command does not
// get a terminal's Ctrl-C either.
func (c *Cmd) Uninterruptible() *Cmd {
	c.uninterruptible = true
	return c
}

// WithTerminal gives the command this process's own stdout and stderr
// instead of pipes, so that Run returns as soon as the command exits even if
// it leaves a background process behind (an ssh -L). Its stderr is then not
// in the error, and WithStdout and Output get nothing.
func (c *Cmd) WithTerminal() *Cmd {
	c.terminal = true
	return c
}

// String is the command line, for messages, with secrets redacted.
func (c *Cmd) String() string {
	return strings.Join(redactArgs(append([]string{c.name}, c.args...)), " ")
}

// Run runs the command and discards its output unless WithStdout was used.
func (c *Cmd) Run(ctx context.Context) error {
	return c.run(ctx, c.stdout)
}

// Output runs the command and returns its standard output without the
// trailing newline.
func (c *Cmd) Output(ctx context.Context) (string, error) {
	var out bytes.Buffer
	err := c.run(ctx, &out)
	return strings.TrimRight(out.String(), "\n"), err
}

// Lines runs the command and returns the non-empty lines of its output,
// trimmed: the output goes through a bitfield/script pipeline, as it would
// through `| sed | grep` in a shell.
func (c *Cmd) Lines(ctx context.Context) ([]string, error) {
	out, err := c.Output(ctx)
	if err != nil {
		return nil, err
	}
	return script.Echo(out).FilterLine(strings.TrimSpace).RejectRegexp(blankLine).Slice()
}

var blankLine = regexp.MustCompile(`^$`)

// run runs the command with its stdout going to stdout, nil for none.
func (c *Cmd) run(ctx context.Context, stdout io.Writer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not started: %w", c.short(), err)
	}
	if Debug {
		fmt.Fprintf(os.Stderr, "+ %s\n", c)
	}
	var stderr tail
	p, err := c.start(stdout, &stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", c.short(), err)
	}
	interrupt := ctx.Done()
	if c.uninterruptible {
		interrupt = nil
	}
	stopped, err := p.wait(interrupt)
	failure := c.failure(err, &stderr)
	switch {
	case stopped:
		return fmt.Errorf("%s: %w", c.short(), ctx.Err())
	case ctx.Err() != nil && c.uninterruptible && failure != nil:
		return fmt.Errorf("%w (and the context was cancelled meanwhile: %w)", failure, ctx.Err())
	case ctx.Err() != nil && c.uninterruptible:
		return fmt.Errorf("%s: finished, but %w meanwhile", c.short(), ctx.Err())
	}
	return failure
}

// failure describes err, the command's own failure, with the end of its
// stderr; nil when it succeeded.
func (c *Cmd) failure(err error, stderr *tail) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		return fmt.Errorf("%s: %w", c.short(), err)
	}
	return fmt.Errorf("%s: %w: %s", c.short(), err, msg)
}

// short is the command line cut to a readable length for error messages.
func (c *Cmd) short() string {
	s := c.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// tail keeps the last 4 KiB written to it: enough to explain a failure,
// bounded for commands that print a lot.
type tail struct{ buf []byte }

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
