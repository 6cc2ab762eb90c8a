package shell

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// GracePeriod is how long a cancelled command's process group has between
// SIGTERM and SIGKILL. mage gives a cancelled target 5 s before it exits the
// process: the grace must end within that.
const GracePeriod = 3 * time.Second

// PipeWaitDelay is how long, once the command has exited, its stdout or
// stderr may stay silent and open before Run stops reading it: only a
// process the command left behind can still hold it then.
const PipeWaitDelay = time.Second

// process is a started command and the copying of its outputs.
type process struct {
	cmd     *exec.Cmd
	outputs []*output
}

// start starts the command in a process group of its own, its stdout going
// to stdout (nil for none) and its stderr to stderr, echoed when Debug is on.
func (c *Cmd) start(stdout io.Writer, stderr *tail) (*process, error) {
	cmd := exec.Command(c.name, c.args...)
	cmd.Stdin = c.stdin
	if c.env != nil {
		cmd.Env = append(os.Environ(), c.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !c.terminal && !c.uninterruptible {
		// Killed with SIGKILL, dind-cluster cannot stop its children: the
		// kernel does (a kubectl watch would run on for an hour). A port
		// forwarder is meant to outlive it, and a package install to end.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	// Only the copying of stdin is left to exec: this bounds it once the
	// command has exited.
	cmd.WaitDelay = PipeWaitDelay
	p := &process{cmd: cmd}
	if c.terminal {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return p, p.start()
	}
	var errOut io.Writer = stderr
	if Debug {
		errOut = io.MultiWriter(stderr, os.Stderr)
	}
	var err error
	if cmd.Stderr, err = p.pipe(errOut); err != nil {
		return nil, err
	}
	if stdout != nil {
		if cmd.Stdout, err = p.pipe(stdout); err != nil {
			p.closeChildEnds()
			p.drain()
			return nil, err
		}
	}
	return p, p.start()
}

// pipe makes an output copied to w, and returns the end the child writes to.
func (p *process) pipe(w io.Writer) (*os.File, error) {
	o, err := newOutput(w)
	if err != nil {
		return nil, err
	}
	p.outputs = append(p.outputs, o)
	return o.childEnd, nil
}

func (p *process) start() error {
	err := p.cmd.Start()
	p.closeChildEnds()
	if err != nil {
		p.drain()
	}
	return err
}

// closeChildEnds closes our copy of the pipe ends the child writes to, so
// that reading them ends when the child and what it started are done.
func (p *process) closeChildEnds() {
	for _, o := range p.outputs {
		o.childEnd.Close()
	}
}

// wait waits for the command to exit and its outputs to be copied. If
// interrupt is closed first, it stops the command's process group; stopped
// tells whether it did.
func (p *process) wait(interrupt <-chan struct{}) (stopped bool, err error) {
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err = <-exited:
	case <-interrupt:
		stopped = true
		err = p.stopGroup(exited)
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // stdin was left unread: the command finished all the same
	}
	if copyErr := p.drain(); err == nil {
		err = copyErr
	}
	return stopped, err
}

// stopGroup sends SIGTERM to the command's process group, then SIGKILL if
// the command has not exited after GracePeriod. What the command leaves in
// its group is killed as soon as it has exited, so that nothing outlives a
// cancelled command.
func (p *process) stopGroup(exited <-chan error) error {
	group := -p.cmd.Process.Pid
	syscall.Kill(group, syscall.SIGTERM)
	grace := time.NewTimer(GracePeriod)
	defer grace.Stop()
	var err error
	select {
	case err = <-exited:
	case <-grace.C:
		syscall.Kill(group, syscall.SIGKILL)
		err = <-exited
	}
	// The group keeps its id while any member lives, so this cannot reach
	// another group.
	syscall.Kill(group, syscall.SIGKILL)
	return err
}

// drain waits for the outputs to be copied, now that the command has exited,
// and returns the first error in writing them.
func (p *process) drain() error {
	for _, o := range p.outputs {
		o.childHasExited()
	}
	var first error
	for _, o := range p.outputs {
		if err := <-o.copied; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// output copies one of the child's outputs to w through a pipe of our own.
// exec's WaitDelay would close its own pipe when a slow w has not yet taken
// the end of the output, losing it; output instead stops reading only when
// the pipe stays silent for PipeWaitDelay after the child has exited.
type output struct {
	read, childEnd *os.File
	childExited    atomic.Bool
	copied         chan error
}

func newOutput(w io.Writer) (*output, error) {
	r, childEnd, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &output{read: r, childEnd: childEnd, copied: make(chan error, 1)}
	go func() { o.copied <- o.copyTo(w) }()
	return o, nil
}

func (o *output) copyTo(w io.Writer) error {
	defer o.read.Close() // a child still writing gets EPIPE instead of blocking
	buf := make([]byte, 32*1024)
	for {
		if o.childExited.Load() {
			o.read.SetReadDeadline(time.Now().Add(PipeWaitDelay))
		}
		began := time.Now()
		n, err := o.read.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A deadline childHasExited set while we were writing may expire
			// before this read even looked: only a read that waited
			// the whole delay tells that the pipe is silent.
			if time.Since(began) >= PipeWaitDelay {
				return nil
			}
		case err != nil:
			return err
		}
	}
}

// childHasExited bounds the rest of the copy: from now on, PipeWaitDelay of
// silence ends it.
func (o *output) childHasExited() {
	o.childExited.Store(true)
	// For a read already waiting; copyTo sets the next ones.
	o.read.SetReadDeadline(time.Now().Add(PipeWaitDelay))
}
