package validate

import (
	"context"
	"time"
)

// RealClock is the machine's clock, the one Clock of the project's that
// is not a test's.
type RealClock struct{}

var _ Clock = RealClock{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// withClockTimeout is context.WithTimeoutCause on c's time: ctx is
// cancelled with cause once c says d has passed.
func withClockTimeout(parent context.Context, c Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	expired := c.After(d)
	go func() {
		select {
		case <-expired:
			cancel(cause)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
