package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
)

// A line that is not a valid event is refused by its line number before
// anything is sent (the producer's broker is never dialled).
func TestProduceLinesNamesTheBadLine(t *testing.T) {
	p := kafka.NewProducer(kafka.Cluster{Brokers: []string{"127.0.0.1:1"}}, "events")
	defer p.Close()
	n, err := p.ProduceLines(context.Background(), strings.NewReader("\n{\"not\": \"an event\"}\n"), "stdin", false, nil)
	if n != 0 || err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("ProduceLines = %d, %v; want 0 and an error about line 2", n, err)
	}
}

// With a format, each line is validated with its mapping: a message that
// cannot be mapped is refused by its line and its own field, before
// anything is sent.
func TestProduceLinesValidatesTheFormat(t *testing.T) {
	p := kafka.NewProducer(kafka.Cluster{Brokers: []string{"127.0.0.1:1"}}, "events")
	defer p.Close()
	m, err := formats.NewMapping(formats.Segment, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := `{"type":"track","event":"Signed Up","messageId":"m1","timestamp":"2026-11-23T07:00:00Z"}`
	n, err := p.ProduceLines(context.Background(), strings.NewReader(line+"\n"), "stdin", false, m)
	if n != 0 || err == nil || err.Error() != "line 1: segment: userId or anonymousId is required" {
		t.Errorf("ProduceLines = %d, %v; want 0 and line 1's missing userId or anonymousId", n, err)
	}
}
