package formats_test

import (
	"testing"

	"github.com/dowserhq/dowser/formats"
)

// BenchmarkConvert measures each format's conversion of its spec sample;
// the envelope's is schema.ParseEvent's.
func BenchmarkConvert(b *testing.B) {
	for _, c := range []struct{ format, file string }{
		{formats.Segment, "segment-track.json"},
		{formats.Snowplow, "snowplow-page-view.json"},
		{formats.CloudEvents, "cloudevents-structured.json"},
	} {
		b.Run(c.format, func(b *testing.B) {
			msg := sample(b, c.file)
			m, err := formats.NewMapping(c.format, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Convert(msg, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
