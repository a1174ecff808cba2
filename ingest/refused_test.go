package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
)

// Kafka errors on both sides of the line: a record refused for what it is
// (cut it down and write again) against a broker or network in trouble
// (retry the same record).
func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{kafka.MessageSizeTooLarge, true},
		{kafka.MessageTooLargeError{}, true}, // the writer's own check of BatchBytes
		{kafka.RecordListTooLarge, true},
		{kafka.InvalidRecord, true},
		{kafka.WriteErrors{kafka.MessageSizeTooLarge}, true},
		{fmt.Errorf("writing: %w", kafka.WriteErrors{nil, kafka.InvalidRecord}), true},
		{kafka.NotLeaderForPartition, false},
		{kafka.LeaderNotAvailable, false},
		{kafka.RequestTimedOut, false},
		{kafka.NotEnoughReplicas, false},
		{kafka.WriteErrors{kafka.NotLeaderForPartition}, false},
		{io.EOF, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("refused(%#v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestShrinkCutsTheValueThenTheProducersHeaders(t *testing.T) {
	m := kafka.Message{Key: []byte("k"), Value: make([]byte, 3000), Headers: []kafka.Header{
		{Key: "trace-id", Value: []byte("abc")}, {Key: HeaderReason, Value: []byte("too_large")},
	}}
	var sizes []int
	for shrink(&m, 1000) {
		sizes = append(sizes, len(m.Value))
	}
	if want := "[1000 500 250 125 62 31 15 7 3 1 0 0]"; fmt.Sprint(sizes) != want {
		t.Errorf("value sizes %v, want %s", sizes, want)
	}
	if fmt.Sprint(m.Headers) != fmt.Sprint([]kafka.Header{{Key: HeaderReason, Value: []byte("too_large")}, {Key: HeaderTruncated, Value: []byte("3000")}}) {
		t.Errorf("headers at the end %v, want only Dowser's, with %s 3000", m.Headers, HeaderTruncated)
	}
}
