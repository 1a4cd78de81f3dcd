package wait

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Condition reports whether what is awaited holds. A non-nil error stops the wait, unless it is Retry.
type Condition func(ctx context.Context) (done bool, err error)

// retryable wraps an error that should not stop the wait (a transient API error): it is remembered as the last
// observation and the wait goes on.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retry marks err as transient: the wait goes on and reports it if time runs out.
func Retry(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// ErrTimeout is what errors.Is finds in the error of a wait that gave up (its timeout passed or its context ended).
var ErrTimeout = errors.New("wait gave up")

type timeoutError string

func (e timeoutError) Error() string        { return string(e) }
func (e timeoutError) Is(target error) bool { return target == ErrTimeout }

// For checks cond every interval until it holds (nil), returns a non-transient error, ctx ends, or timeout passes.
// what names the awaited state for the timeout error.
func For(ctx context.Context, what string, interval, timeout time.Duration, cond Condition) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var last error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := cond(ctx)
		if err != nil {
			if _, ok := err.(retryable); !ok {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
			last = err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return timeoutError(fmt.Sprintf("waiting for %s: gave up after %s (last: %v)", what, time.Since(start).Round(time.Second), last))
			}
			return timeoutError(fmt.Sprintf("waiting for %s: gave up after %s", what, time.Since(start).Round(time.Second)))
		case <-t.C:
		}
	}
}

// Every calls observe every interval for d (a fixed-length observation, such as sampling readiness through an
// outage, not a wait for a state); it returns ctx's error if ctx ends first.
func Every(ctx context.Context, interval, d time.Duration, observe func(ctx context.Context)) error {
	end := time.NewTimer(d)
	defer end.Stop()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		observe(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			return nil
		case <-t.C:
		}
	}
}
