package kafka

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// ProduceLines produces one message per non-empty line of r (at most 1 MiB
// a line), named name in errors, and returns how many it produced. Unless
// raw, each line must convert to a valid event with mapping (Dowser's
// envelope, schema.ParseEvent, when nil) and is keyed like any event
// (EventKey), so that a typo is reported to the caller rather than
// dead-lettered; raw lines are produced as they are, without a key. With
// a mapping, each message names its format in HeaderFormat, so that the
// consumer reads it in that format whatever the topic's own.
func (p *Producer) ProduceLines(ctx context.Context, r io.Reader, name string, raw bool, mapping *formats.Mapping) (int, error) {
	var header []Header
	if mapping != nil {
		header = formatHeader(mapping.Format())
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		b := append([]byte(nil), sc.Bytes()...)
		if len(b) == 0 {
			continue
		}
		var key []byte
		if !raw {
			var ev schema.Event
			var err error
			if mapping != nil {
				ev, err = mapping.Convert(formats.Message{Value: b}, 0)
			} else {
				ev, err = schema.ParseEvent(b, 0)
			}
			if err != nil {
				return n, fmt.Errorf("line %d: %w", line, err)
			}
			key = []byte(EventKey(&ev))
		}
		if err := p.Produce(ctx, Message{Key: key, Value: b, Headers: header}); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("reading %s: %w", name, err)
	}
	return n, nil
}
