package formats_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// FuzzConvert holds every format to its contract on any input: no panic;
// a converted event is valid; a failure is a *schema.EventError of a known
// reason whose text names the format.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for i := range formats.Names() {
			f.Add(uint8(i), b, false)
		}
	}
	f.Add(uint8(3), []byte(`{"user_id":"u"}`), true)
	reasons := []string{schema.ReasonNotJSON, schema.ReasonMissingField, schema.ReasonBadField, schema.ReasonTooLarge}
	mappings := map[string]*formats.Mapping{}
	for _, name := range formats.Names() {
		m, err := formats.NewMapping(name, nil)
		if err != nil {
			f.Fatal(err)
		}
		mappings[name] = m
	}
	f.Fuzz(func(t *testing.T, which uint8, value []byte, binary bool) {
		names := formats.Names()
		name := names[int(which)%len(names)]
		msg := formats.Message{Value: value}
		if binary {
			msg.Headers = []formats.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("i")},
				{Key: "ce_type", Value: []byte("t")}, {Key: "ce_source", Value: []byte("/s")}, {Key: "ce_time", Value: []byte("2026-11-23T07:00:00Z")}}
		}
		ev, err := mappings[name].Convert(msg, 4096)
		if err == nil {
			if verr := ev.Validate(); verr != nil {
				t.Fatalf("%s: converted an invalid event: %v", name, verr)
			}
			return
		}
		var ee *schema.EventError
		if !errors.As(err, &ee) || !slices.Contains(reasons, ee.Reason) {
			t.Fatalf("%s: error %v (%T) is no EventError of a known reason", name, err, err)
		}
		if name != formats.Dowser && !strings.HasPrefix(err.Error(), name+": ") {
			t.Fatalf("%s: error %q does not name the format", name, err)
		}
	})
}
