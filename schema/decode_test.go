package schema

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema/internal/jsonscan"
)

// samplePageView and sampleSupportEmail are events as `dowser bench`
// produces them (encoding/json's encoding of an Event).
const (
	samplePageView     = `{"id":"evt-8c1f5e2a9b3d4c70","type":"page_view","time":"2026-11-02T09:00:12.3456Z","source":"demo-traffic","customer":{"id":"c-northwind-3","email":"maria.garcia@northwind.example","account_id":"northwind"},"content_id":"pricing-page","properties":{"title":"Pricing","url":"https://dowser.example/p07/pricing"}}`
	sampleSupportEmail = `{"id":"evt-3f0a77c1d2e94b18","type":"support_email","time":"2026-11-02T09:00:12.3458Z","source":"demo-traffic","customer":{"id":"c-globex-12","email":"li.wei@globex.example","account_id":"globex"},"properties":{"body":"Hi team,\n\nHow do I export the alert history to CSV?\n\nThanks,\nLi","subject":"How do I export the alert history to CSV?"}}`
)

// decodeCases are inputs whose decoding the table test pins down and
// FuzzParseEvent starts from.
var decodeCases = []struct {
	name       string
	in         string
	max        int
	wantReason string // "" for a valid event
	wantField  string
}{
	{name: "page view", in: samplePageView},
	{name: "support email", in: sampleSupportEmail},
	{name: "white space everywhere", in: " \t\r\n{ \"id\" : \"e\" , \"type\":\"x\",\"time\" :\"2026-11-23T07:00:00Z\", \"customer\" : { \"id\" : \"c\" } } \n"},
	{name: "offset time", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00.123456789+05:30","customer":{"id":"c"}}`},
	{name: "null members keep nothing", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","source":null,"customer":{"id":"c","email":null},"content_id":null}`},
	{name: "null member then another", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":null,"customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "customer"},
	{name: "null properties", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":null}`},
	{name: "empty properties", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{}}`},
	{name: "repeated properties", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"a":"1","b":"2"},"properties":{"b":"3","c":"4"}}`, wantReason: ReasonBadField, wantField: "properties"},
	{name: "a repeated property: the last counts", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"a":"1","a":"2","A":"3"}}`},
	{name: "repeated customer", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c","email":"a@b"},"customer":{"account_id":"acme"}}`, wantReason: ReasonBadField, wantField: "customer"},
	{name: "repeated id", in: `{"id":"e1","id":"e2","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "id"},
	{name: "repeated time in another case", in: `{"id":"e","type":"x","time":"yesterday","TIME":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
	{name: "repeated customer id", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c","Id":"d"}}`, wantReason: ReasonBadField, wantField: "customer.id"},
	{name: "repeated member before a type error", in: `{"id":"e","type":1,"customer":{"id":"c","ID":"d"}}`, wantReason: ReasonBadField, wantField: "customer.id"},
	{name: "repeated unknown members are skipped", in: `{"id":"e","x":1,"x":2,"type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c","y":1,"y":2}}`},
	{name: "syntax error after a repeated member", in: `{"id":"e","id":"f",}`, wantReason: ReasonNotJSON},
	{name: "property values of every kind", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"s":"v","n":-1.5e3,"z":0,"t":true,"f":false,"nil":null,"o":{"a":[1,"b",{"c":null}],"a":[]},"arr":[],"deep":[[[{}]]]}}`},
	{name: "escapes", in: `{"id":"e\"\\\/\b\f\n\r\t\u00e9\u2028","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c\u0001"},"properties":{"k\u0065y":"\ud83d\ude00 \ud83d \ude00 \udc00\ud800\ud800\udc00 \ud800\u0041"}}`},
	{name: "invalid UTF-8 is replaced", in: "{\"id\":\"e\xff\xfe\",\"type\":\"x\",\"time\":\"2026-11-23T07:00:00Z\",\"customer\":{\"id\":\"c\xed\xa0\x80\xe2\x82\"},\"properties\":{\"\xc3\":\"\xf0\x9f\x98\x80 ok \xf0\x9f\"}}"},
	{name: "valid UTF-8 kept", in: `{"id":"é✓😀","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`},
	{name: "keys match ignoring case", in: `{"ID":"e","Type":"x","TIME":"2026-11-23T07:00:00Z","CUSTOMER":{"Id":"c","Account_ID":"acme","LifeCycle":"customer"},"Content_Id":"p","PROPERTIES":{"URL":"u"}}`},
	{name: "keys fold as Unicode", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","cuſtomer":{"id":"c","anonymouſ_id":"a"},"ſource":"s"}`},
	{name: "escaped keys", in: `{"\u0069d":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`},
	{name: "unknown members ignored", in: `{"id":"e","Event":{"id":"no"},"type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c","x":[1,{"y":2e400}]},"extra":{"n":1e999}}`},
	{name: "closing bracket after the object", in: samplePageView + ` ]}x`},
	{name: "null event", in: `null`, wantReason: ReasonMissingField, wantField: "id"},
	{name: "null event then bracket", in: `null}`, wantReason: ReasonMissingField, wantField: "id"},
	{name: "empty", in: ``, wantReason: ReasonNotJSON},
	{name: "only space", in: " \n", wantReason: ReasonNotJSON},
	{name: "not json", in: `hello`, wantReason: ReasonNotJSON},
	{name: "truncated", in: samplePageView[:60], wantReason: ReasonNotJSON},
	{name: "truncated in escape", in: `{"id":"\u00`, wantReason: ReasonNotJSON},
	{name: "trailing object", in: samplePageView + `{}`, wantReason: ReasonNotJSON},
	{name: "trailing comma", in: samplePageView + `,`, wantReason: ReasonNotJSON},
	{name: "trailing null", in: `null null`, wantReason: ReasonNotJSON},
	{name: "comma before brace", in: `{"id":"e",}`, wantReason: ReasonNotJSON},
	{name: "single quotes", in: `{'id':'e'}`, wantReason: ReasonNotJSON},
	{name: "bad escape", in: `{"id":"\x"}`, wantReason: ReasonNotJSON},
	{name: "escaped quote is not in JSON", in: `{"id":"\'"}`, wantReason: ReasonNotJSON},
	{name: "bad hex escape", in: `{"id":"\u12g4"}`, wantReason: ReasonNotJSON},
	{name: "bad hex in second half of a pair", in: `{"id":"\ud800\u12g4"}`, wantReason: ReasonNotJSON},
	{name: "control character", in: "{\"id\":\"a\tb\"}", wantReason: ReasonNotJSON},
	{name: "leading zero", in: `{"x":01}`, wantReason: ReasonNotJSON},
	{name: "bare minus", in: `{"x":-}`, wantReason: ReasonNotJSON},
	{name: "bad fraction", in: `{"x":1.}`, wantReason: ReasonNotJSON},
	{name: "bad exponent", in: `{"x":1e+}`, wantReason: ReasonNotJSON},
	{name: "bad literal", in: `{"x":nul}`, wantReason: ReasonNotJSON},
	{name: "syntax error after a type error", in: `{"id":7,"x":}`, wantReason: ReasonNotJSON},
	{name: "too deep", in: `{"properties":{"a":` + strings.Repeat("[", jsonscan.MaxDepth-1) + strings.Repeat("]", jsonscan.MaxDepth-1) + `}}`, max: 1 << 20, wantReason: ReasonNotJSON},
	{name: "deepest allowed", in: `{"x":` + strings.Repeat("[", jsonscan.MaxDepth-1) + strings.Repeat("]", jsonscan.MaxDepth-1) + `}`, max: 1 << 20, wantReason: ReasonMissingField, wantField: "id"},
	{name: "array", in: `[1,2]`, wantReason: ReasonBadField, wantField: "(event)"},
	{name: "string", in: `"event"`, wantReason: ReasonBadField, wantField: "(event)"},
	{name: "number then garbage", in: `01x`, wantReason: ReasonBadField, wantField: "(event)"},
	{name: "bool", in: `true`, wantReason: ReasonBadField, wantField: "(event)"},
	{name: "too large", in: samplePageView, max: 20, wantReason: ReasonTooLarge},
	{name: "missing id", in: `{"type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "id"},
	{name: "missing type", in: `{"id":"e","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "type"},
	{name: "missing time", in: `{"id":"e","type":"page_view","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "time"},
	{name: "null time", in: `{"id":"e","type":"page_view","time":null,"customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "time"},
	{name: "missing customer", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z"}`, wantReason: ReasonMissingField, wantField: "customer.id"},
	{name: "bad time", in: `{"id":"e","type":"page_view","time":"yesterday","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
	{name: "time without zone", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
	{name: "escaped time", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00\u005a","customer":{"id":"c"}}`},
	{name: "time not a string", in: `{"id":"e","type":"page_view","time":12,"customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
	{name: "time an object", in: `{"id":"e","type":"page_view","time":{"a":1},"customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
	{name: "id not a string", in: `{"id":7,"type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "id"},
	{name: "type an array", in: `{"id":"e","type":["x"],"time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "type"},
	{name: "source a bool", in: `{"id":"e","type":"x","source":true,"time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "source"},
	{name: "content id an object", in: `{"id":"e","type":"x","content_id":{},"time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "content_id"},
	{name: "customer a string", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":"c"}`, wantReason: ReasonBadField, wantField: "customer"},
	{name: "customer id a number", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":42}}`, wantReason: ReasonBadField, wantField: "customer.id"},
	{name: "customer key ignoring case", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"ACCOUNT_ID":[]}}`, wantReason: ReasonBadField, wantField: "customer.account_id"},
	{name: "properties an array", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":["url"]}`, wantReason: ReasonBadField, wantField: "properties"},
	{name: "property out of range", in: `{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"a":{"b":[-1e400]}}}`, wantReason: ReasonBadField, wantField: "properties"},
	{name: "first type error counts", in: `{"customer":{"email":1},"id":2}`, wantReason: ReasonBadField, wantField: "customer.email"},
	{name: "type error before a bad time", in: `{"time":"no","type":1}`, wantReason: ReasonBadField, wantField: "type"},
	{name: "type error before trailing data", in: `{"id":1} x`, wantReason: ReasonBadField, wantField: "id"},
	{name: "uppercase type", in: `{"id":"e","type":"PageView","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "type"},
	{name: "long type", in: `{"id":"e","type":"a` + strings.Repeat("b", 64) + `","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "type"},
	{name: "long id", in: `{"id":"` + strings.Repeat("e", 257) + `","type":"x","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "id"},
	{name: "bad lifecycle", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","lifecycle":"lead"}}`, wantReason: ReasonBadField, wantField: "customer.lifecycle"},
	// PostgreSQL cannot store a NUL: such an event would fail at every retry.
	{name: "NUL in account id", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","account_id":"ac\u0000me"}}`, wantReason: ReasonBadField, wantField: "customer.account_id"},
	{name: "NUL in id", in: `{"id":"\u0000","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "id"},
	{name: "NUL in customer id", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c\u0000"}}`, wantReason: ReasonBadField, wantField: "customer.id"},
	{name: "NUL in title", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"url":"u","title":"Pri\u0000cing"}}`, wantReason: ReasonBadField, wantField: "properties.title"},
	{name: "NUL in nested property", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"a":{"b":["x","\u0000"]},"z":"\u0000"}}`, wantReason: ReasonBadField, wantField: "properties.a.b[1]"},
	{name: "NUL in property key", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"ti\u0000tle":"x"}}`, wantReason: ReasonBadField, wantField: "properties"},
	{name: "NUL in an unknown member is ignored", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","x":"\u0000"},"other":"\u0000"}`},
	{name: "missing field before NUL", in: `{"type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c\u0000"}}`, wantReason: ReasonMissingField, wantField: "id"},
}

func TestDecodeCases(t *testing.T) {
	d := NewDecoder(0)
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEventReference([]byte(tt.in), tt.max)
			checkReason(t, "reference", err, tt.wantReason, tt.wantField)
			_, err = ParseEvent([]byte(tt.in), tt.max)
			checkReason(t, "ParseEvent", err, tt.wantReason, tt.wantField)
			checkMatchesReference(t, d, []byte(tt.in), tt.max)
		})
	}
}

func checkReason(t *testing.T, who string, err error, reason, field string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Errorf("%s: %v, want no error", who, err)
		}
		return
	}
	var ee *EventError
	if !errors.As(err, &ee) {
		t.Fatalf("%s: error %v, want an *EventError", who, err)
	}
	if ee.Reason != reason || ee.Field != field {
		t.Errorf("%s: reason %q field %q (%v), want %q %q", who, ee.Reason, ee.Field, err, reason, field)
	}
}

// checkMatchesReference checks that ParseEvent, and d reused, decode data
// as the encoding/json reference does, and that what d decoded does not
// change when data is overwritten afterwards.
func checkMatchesReference(t *testing.T, d *Decoder, data []byte, max int) {
	t.Helper()
	want, wantErr := parseEventReference(data, max)
	got, err := ParseEvent(data, max)
	compareDecoded(t, "ParseEvent", data, got, err, want, wantErr)

	buf := bytes.Clone(data)
	d.maxBytes = max
	var ev Event
	err = d.Decode(buf, &ev)
	for i := range buf {
		buf[i] = 'X'
	}
	compareDecoded(t, "Decoder.Decode", data, ev, err, want, wantErr)
}

func compareDecoded(t *testing.T, who string, data []byte, got Event, err error, want Event, wantErr error) {
	t.Helper()
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s(%s): error %v, the reference's %v", who, short(data), err, wantErr)
	}
	if err != nil {
		var ee, wantEE *EventError
		if !errors.As(err, &ee) || !errors.As(wantErr, &wantEE) {
			t.Fatalf("%s(%s): error %v, the reference's %v: not both *EventError", who, short(data), err, wantErr)
		}
		if ee.Reason != wantEE.Reason || ee.Field != wantEE.Field || ee.Detail == "" {
			t.Fatalf("%s(%s): error %v, the reference's %v", who, short(data), err, wantErr)
		}
		// The words differ only for a value of the wrong JSON type, where
		// encoding/json names Go types.
		if ee.Detail != wantEE.Detail && !strings.HasPrefix(wantEE.Detail, "expected ") {
			t.Fatalf("%s(%s): error %q, the reference's %q", who, short(data), err, wantErr)
		}
	}
	if !got.Time.Equal(want.Time) || got.Time.Location().String() != want.Time.Location().String() {
		t.Fatalf("%s(%s): time %v, the reference's %v", who, short(data), got.Time, want.Time)
	}
	_, off := got.Time.Zone()
	_, wantOff := want.Time.Zone()
	if off != wantOff {
		t.Fatalf("%s(%s): zone offset %d, the reference's %d", who, short(data), off, wantOff)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s(%s):\n got %#v\nwant %#v", who, short(data), got, want)
	}
}

func TestZeroDecoder(t *testing.T) {
	var d Decoder
	var ev Event
	if err := d.Decode([]byte(samplePageView), &ev); err != nil {
		t.Fatal(err)
	}
	want, _ := parseEventReference([]byte(samplePageView), 0)
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("decoded %#v, want %#v", ev, want)
	}
}

func TestDecoderReusesNothingOfThePreviousEvent(t *testing.T) {
	d := NewDecoder(0)
	var ev Event
	if err := d.Decode([]byte(samplePageView), &ev); err != nil {
		t.Fatal(err)
	}
	ev.Customer.Lifecycle = LifecycleCustomer // as a handler may set it
	if err := d.Decode([]byte(`{"id":"e","type":"x","time":"2026-11-23T07:00:00Z","customer":{"anonymous_id":"a"}}`), &ev); err != nil {
		t.Fatal(err)
	}
	want := Event{ID: "e", Type: "x", Time: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), Customer: Customer{AnonymousID: "a"}}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("decoded %#v, want %#v", ev, want)
	}
}

func TestDecoderInternsRepeatedStrings(t *testing.T) {
	d := NewDecoder(0)
	var ev Event
	data := []byte(samplePageView)
	if err := d.Decode(data, &ev); err != nil {
		t.Fatal(err)
	}
	// The event's id and the person's id and email are allocated each
	// time; the rest comes from the table.
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(data, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("%v allocations a decoded page view, want at most 3", allocs)
	}
}

func TestValidType(t *testing.T) {
	for _, typ := range []string{"", "a", "page_view", "a.b-c_9", "A", "9a", "_a", "a b", "é", "a" + strings.Repeat("b", 63), "a" + strings.Repeat("b", 64)} {
		if got, want := validType(typ), typePatternReference.MatchString(typ); got != want {
			t.Errorf("validType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func BenchmarkParseEvent(b *testing.B) {
	for _, ev := range []struct{ name, data string }{{"page_view", samplePageView}, {"support_email", sampleSupportEmail}} {
		data := []byte(ev.data)
		b.Run(ev.name+"/reference", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := parseEventReference(data, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ev.name+"/ParseEvent", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := ParseEvent(data, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ev.name+"/Decoder", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			d := NewDecoder(0)
			var e Event
			for b.Loop() {
				if err := d.Decode(data, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// short quotes data for a failure message, at most 200 bytes of it.
func short(data []byte) string {
	if len(data) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", data[:200], len(data))
	}
	return fmt.Sprintf("%q", data)
}
