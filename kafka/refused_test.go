package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

// Kafka errors on both sides of the line: a record refused for what it is
// (cut it down and write again) against a broker or network in trouble
// (retry the same record).
func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{kafkago.MessageSizeTooLarge, true},
		{kafkago.MessageTooLargeError{}, true}, // the writer's own check of BatchBytes
		{kafkago.RecordListTooLarge, true},
		{kafkago.InvalidRecord, true},
		{kafkago.WriteErrors{kafkago.MessageSizeTooLarge}, true},
		{fmt.Errorf("writing: %w", kafkago.WriteErrors{nil, kafkago.InvalidRecord}), true},
		{kafkago.NotLeaderForPartition, false},
		{kafkago.LeaderNotAvailable, false},
		{kafkago.RequestTimedOut, false},
		{kafkago.NotEnoughReplicas, false},
		{kafkago.WriteErrors{kafkago.NotLeaderForPartition}, false},
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
	m := kafkago.Message{Key: []byte("k"), Value: make([]byte, 3000), Headers: []kafkago.Header{
		{Key: "trace-id", Value: []byte("abc")}, {Key: HeaderReason, Value: []byte("too_large")},
	}}
	var sizes []int
	for shrink(&m, 1000) {
		sizes = append(sizes, len(m.Value))
	}
	if want := "[1000 500 250 125 62 31 15 7 3 1 0 0]"; fmt.Sprint(sizes) != want {
		t.Errorf("value sizes %v, want %s", sizes, want)
	}
	if fmt.Sprint(m.Headers) != fmt.Sprint([]kafkago.Header{{Key: HeaderReason, Value: []byte("too_large")}, {Key: HeaderTruncated, Value: []byte("3000")}}) {
		t.Errorf("headers at the end %v, want only Dowser's, with %s 3000", m.Headers, HeaderTruncated)
	}
}
