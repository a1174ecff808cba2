package loop

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Retry runs op until it succeeds, fails with an error permanent reports
// as one no retry will help (returned at once), or ctx ends. Between
// tries it waits with exponential backoff and jitter from 100 ms up to
// 5 s, logging each failure as what failed: for the steps a service takes
// once while starting, where a dependency may come up later.
func Retry(ctx context.Context, log *slog.Logger, what string, permanent func(error) bool, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	try := func() error {
		err := op()
		if err != nil && permanent(err) {
			return backoff.Permanent(err)
		}
		return err
	}
	return backoff.RetryNotify(try, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		log.Warn(what+" failed; retrying", "err", err, "in", wait)
	})
}
