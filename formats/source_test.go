package formats_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

func TestParseSource(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    formats.SourceConfig
		wantErr string
	}{
		{in: "topic=web,format=segment", want: formats.SourceConfig{Topic: "web", Format: "segment"}},
		{in: " format=snowplow , account_id=contexts_com_acme_user_1.0.accountId ", want: formats.SourceConfig{Format: "snowplow",
			Fields: map[string]string{"account_id": "contexts_com_acme_user_1.0.accountId"}}},
		{in: "format=segment,account_id", wantErr: `"account_id" is not key=value`},
		{in: "format=segment,type=a,type=b", wantErr: "field type is mapped twice"},
		{in: "account_id=groupId", wantErr: "fields are mapped but no format= is given"},
	} {
		got, err := formats.ParseSource(c.in)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("ParseSource(%q) error = %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestNewMappingRefusesWhatItCannotMap(t *testing.T) {
	for _, c := range []struct {
		format    string
		overrides map[string]string
		wantErr   string
	}{
		{format: "mixpanel", wantErr: `unknown format "mixpanel": not dowser, segment, snowplow or cloudevents`},
		{format: "dowser", overrides: map[string]string{"account_id": "properties.company"}, wantErr: "format dowser is Dowser's own envelope and takes no field mappings"},
		{format: "segment", overrides: map[string]string{"acount_id": "groupId"}, wantErr: `segment: unknown field "acount_id": not type, id, time, customer_id, anonymous_id, email, account_id, lifecycle, content_id, url, title, referrer or source`},
		{format: "segment", overrides: map[string]string{"account_id": "context..groupId"}, wantErr: `segment: field account_id: field path "context..groupId" has an empty part`},
	} {
		_, err := formats.NewMapping(c.format, c.overrides)
		if err == nil || err.Error() != c.wantErr {
			t.Errorf("NewMapping(%s, %v) error = %v, want %q", c.format, c.overrides, err, c.wantErr)
		}
	}
}

// A source reads its topic with its own mapping; a message that names
// another format gets that format's defaults.
func TestSourcePicksTheMapping(t *testing.T) {
	s, err := formats.NewSource(formats.SourceConfig{Format: "segment", Fields: map[string]string{"account_id": "properties.company"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"", "segment"} {
		m, err := s.For(format)
		if err != nil || m != s.Mapping() {
			t.Errorf("For(%q) = %v, %v; want the source's own mapping", format, m, err)
		}
	}
	if got := s.Mapping().Paths("account_id"); !reflect.DeepEqual(got, []string{"properties.company"}) {
		t.Errorf("own account_id paths = %v", got)
	}
	m, err := s.For("cloudevents")
	if err != nil || m.Format() != "cloudevents" || !reflect.DeepEqual(m.Paths("account_id"), []string{"data.account_id", "data.accountId"}) {
		t.Errorf("For(cloudevents) = %v, %v; want the CloudEvents defaults", m, err)
	}
	if m, _ := s.For("dowser"); !m.Envelope() {
		t.Error("For(dowser) is not the envelope")
	}
	if _, err := s.For("csv"); err == nil || !strings.Contains(err.Error(), `unknown format "csv"`) {
		t.Errorf("For(csv) error = %v", err)
	}
	def, err := formats.NewSource(formats.SourceConfig{})
	if err != nil || !def.Mapping().Envelope() {
		t.Errorf("the zero SourceConfig = %v, %v; want the envelope", def, err)
	}
}

// The envelope converts as schema.ParseEvent decodes; a message over the
// limit is too_large in every format.
func TestConvertEnvelopeAndLimit(t *testing.T) {
	env, _ := formats.NewMapping("dowser", nil)
	raw := []byte(`{"id":"e1","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c1","account_id":"acme"}}`)
	ev, err := env.Convert(formats.Message{Value: raw}, 0)
	want, _ := schema.ParseEvent(raw, 0)
	if err != nil || !reflect.DeepEqual(ev, want) {
		t.Errorf("envelope Convert = %+v, %v; want %+v", ev, err, want)
	}
	for _, f := range formats.Names() {
		m, _ := formats.NewMapping(f, nil)
		_, err := m.Convert(formats.Message{Value: raw}, len(raw)-1)
		var ee *schema.EventError
		if !errors.As(err, &ee) || ee.Reason != schema.ReasonTooLarge {
			t.Errorf("%s: Convert over the limit = %v, want too_large", f, err)
		}
	}
}

func TestBinaryCloudEvent(t *testing.T) {
	if formats.BinaryCloudEvent([]formats.Header{{Key: "content-type", Value: []byte("application/json")}}) {
		t.Error("a content-type alone made a binary CloudEvent")
	}
	if !formats.BinaryCloudEvent([]formats.Header{{Key: "ce_specversion", Value: []byte("1.0")}}) {
		t.Error("ce_specversion did not make a binary CloudEvent")
	}
}
