package kafka

import (
	"context"

	"github.com/dowserhq/dowser/schema"
)

// ProduceEvents writes events already validated elsewhere (posted over
// HTTP), raw[i] being the bytes of events[i] in format, keyed like any
// other event (EventKey), and returns once the broker acknowledged them
// all. A format other than "" goes in each message's HeaderFormat, so
// that the consumer reads it so whatever the topic's own format.
func (p *Producer) ProduceEvents(ctx context.Context, format string, events []schema.Event, raw [][]byte) error {
	msgs := make([]Message, len(events))
	for i := range events {
		msgs[i] = Message{Key: []byte(EventKey(&events[i])), Value: raw[i], Headers: formatHeader(format)}
	}
	return p.Produce(ctx, msgs...)
}

// formatHeader is the header naming format, none for "".
func formatHeader(format string) []Header {
	if format == "" {
		return nil
	}
	return []Header{{Key: HeaderFormat, Value: []byte(format)}}
}
