// Package shell runs external commands (docker, kubectl, go, mmdebstrap) the
// way a person would type them: the command line is logged when DIND_DEBUG is
// set, stderr is captured into the error, and the context cancels the command.
package shell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bitfield/script"
)

// Cmd is a command to run, built up with the With methods.
type Cmd struct {
	name   string
	args   []string
	stdin  io.Reader
	stdout io.Writer
	env    []string
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

// String is the command line, for messages.
func (c *Cmd) String() string {
	return strings.Join(append([]string{c.name}, c.args...), " ")
}

// Run runs the command and discards its output unless WithStdout was used.
func (c *Cmd) Run(ctx context.Context) error {
	out := c.stdout
	if out == nil {
		out = io.Discard
	}
	_, err := c.run(ctx, out)
	return err
}

// Output runs the command and returns its standard output without the
// trailing newline.
func (c *Cmd) Output(ctx context.Context) (string, error) {
	var out bytes.Buffer
	_, err := c.run(ctx, &out)
	return strings.TrimRight(out.String(), "\n"), err
}

// Lines runs the command and returns the non-empty lines of its output.
func (c *Cmd) Lines(ctx context.Context) ([]string, error) {
	out, err := c.Output(ctx)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

func (c *Cmd) run(ctx context.Context, out io.Writer) (int64, error) {
	if os.Getenv("DIND_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "+ %s\n", c)
	}
	var stderr tail
	p := script.NewPipe().WithContext(ctx)
	if c.stdin != nil {
		p = p.WithReader(c.stdin)
	}
	if c.env != nil {
		p = p.WithEnv(append(os.Environ(), c.env...))
	}
	var errOut io.Writer = &stderr
	if os.Getenv("DIND_DEBUG") != "" {
		errOut = io.MultiWriter(&stderr, os.Stderr)
	}
	n, err := p.WithStderr(errOut).ExecCommand(c.name, c.args...).WithStdout(out).Stdout()
	if err != nil {
		if ctx.Err() != nil {
			return int64(n), fmt.Errorf("%s: %w", c.short(), ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return int64(n), fmt.Errorf("%s: %w", c.short(), err)
		}
		return int64(n), fmt.Errorf("%s: %w: %s", c.short(), err, msg)
	}
	return int64(n), nil
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
