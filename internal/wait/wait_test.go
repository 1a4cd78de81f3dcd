package wait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		cond    func(n int) (bool, error)
		wantErr string // "" = success
		wantN   int    // checks made (0 = do not care)
	}{
		{"holds at once", func(int) (bool, error) { return true, nil }, "", 1},
		{"holds on the third check", func(n int) (bool, error) { return n == 3, nil }, "", 3},
		{"a hard error stops at once", func(int) (bool, error) { return false, boom }, "waiting for x: boom", 1},
		{"a transient error goes on", func(n int) (bool, error) {
			if n < 3 {
				return false, Retry(boom)
			}
			return true, nil
		}, "", 3},
		{"timeout names the last transient error", func(int) (bool, error) { return false, Retry(boom) }, "gave up after", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			err := For(context.Background(), "x", time.Millisecond, 50*time.Millisecond, func(context.Context) (bool, error) { n++; return c.cond(n) })
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want %q", err, c.wantErr)
			case c.wantErr == "gave up after" && !strings.Contains(err.Error(), "boom"):
				t.Fatalf("timeout error %v does not name the last observation", err)
			}
			if c.wantN != 0 && n != c.wantN {
				t.Fatalf("%d checks, want %d", n, c.wantN)
			}
		})
	}
}

// TestGiveUpIsErrTimeout: a wait that runs out of time is errors.Is ErrTimeout (callers tell "not yet" from a
// failed check); a condition's own error is not.
func TestGiveUpIsErrTimeout(t *testing.T) {
	err := For(context.Background(), "never", time.Millisecond, 20*time.Millisecond, func(context.Context) (bool, error) { return false, nil })
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "waiting for never: gave up after") {
		t.Errorf("timeout: %v", err)
	}
	err = For(context.Background(), "broken", time.Millisecond, time.Second, func(context.Context) (bool, error) { return false, errors.New("boom") })
	if errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a condition's error: %v", err)
	}
}

// TestEvery: observe runs at the start and every interval for the duration, and a cancelled context ends it early
// with its error.
func TestEvery(t *testing.T) {
	n := 0
	if err := Every(context.Background(), 10*time.Millisecond, 55*time.Millisecond, func(context.Context) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("observed %d times in 55 ms at a 10 ms interval, want several", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := 0
	err := Every(ctx, 5*time.Millisecond, time.Hour, func(context.Context) {
		if m++; m == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || m != 3 {
		t.Errorf("after cancel: %v, %d observations; want context.Canceled after 3", err, m)
	}
}
