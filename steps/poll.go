package steps

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// permanentError stops a Poll at once.
type permanentError struct{ error }

// Permanent marks an error that no retry will cure: Poll returns it at once.
func Permanent(err error) error { return permanentError{err} }

// Poll calls try until it succeeds, returns a Permanent error, ctx ends or
// limit passes; the error then says what was not ready and why.
func Poll(ctx context.Context, limit time.Duration, what string, try func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return p.error
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(400 * time.Millisecond):
		}
	}
}
