package loop_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/dowserhq/dowser/loop"
)

func TestRetryRetriesTransientAndStopsAtPermanent(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	errDown, errDenied := errors.New("down"), errors.New("denied")
	permanent := func(err error) bool { return errors.Is(err, errDenied) }
	tries := 0
	if err := loop.Retry(ctx, log, "connecting", permanent, func() error {
		if tries++; tries < 3 {
			return errDown
		}
		return nil
	}); err != nil || tries != 3 {
		t.Errorf("transient failures: %d tries, err %v; want success at the third", tries, err)
	}
	tries = 0
	if err := loop.Retry(ctx, log, "connecting", permanent, func() error { tries++; return errDenied }); !errors.Is(err, errDenied) || tries != 1 {
		t.Errorf("a permanent failure: %d tries, err %v; want it returned after the first", tries, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	tries = 0
	err := loop.Retry(cctx, log, "connecting", permanent, func() error {
		if tries++; tries == 2 {
			cancel()
		}
		return errDown
	})
	if err == nil || tries != 2 {
		t.Errorf("ctx ended: %d tries, err %v; want an error after the second", tries, err)
	}
}
