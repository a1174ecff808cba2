package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/kafka"
)

// A line that is not a valid event is refused by its line number before
// anything is sent (the producer's broker is never dialled).
func TestProduceLinesNamesTheBadLine(t *testing.T) {
	p := kafka.NewProducer([]string{"127.0.0.1:1"}, "events")
	defer p.Close()
	n, err := p.ProduceLines(context.Background(), strings.NewReader("\n{\"not\": \"an event\"}\n"), "stdin", false, nil)
	if n != 0 || err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("ProduceLines = %d, %v; want 0 and an error about line 2", n, err)
	}
}
