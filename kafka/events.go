package kafka

import (
	"context"

	"github.com/dowserhq/dowser/schema"
)

// ProduceEvents writes events already validated elsewhere (posted over
// HTTP), raw[i] being the bytes of events[i], keyed like any other event
// (EventKey), and returns once the broker acknowledged them all.
func (p *Producer) ProduceEvents(ctx context.Context, events []schema.Event, raw [][]byte) error {
	msgs := make([]Message, len(events))
	for i := range events {
		msgs[i] = Message{Key: []byte(EventKey(&events[i])), Value: raw[i]}
	}
	return p.Produce(ctx, msgs...)
}
