package delivery

import (
	"context"
	"log/slog"
	"time"
)

// poll runs round until ctx ends: at once, then again every interval, or
// at once after a round that filled its batch (more may be due; a batch of
// 0 never fills). A failing round is logged as what failed and tried again
// after the interval.
func poll(ctx context.Context, interval time.Duration, batch int, log *slog.Logger, what string, round func(context.Context) (int, error)) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := round(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn(what, "err", err)
			t.Reset(interval)
		case batch > 0 && n >= batch:
			t.Reset(0)
		default:
			t.Reset(interval)
		}
	}
}
