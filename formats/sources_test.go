package formats_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/formats"
)

// The events topic's source, first of Sources.
func TestSourcesOfTheEventsTopic(t *testing.T) {
	type file struct{ name, body string }
	yamlFile := file{"sources.yaml", "sources:\n  - topic: web\n    format: segment\n    fields:\n      account_id: properties.company\n"}
	jsonFile := file{"sources.json", `{"sources": [{"format": "snowplow", "fields": {"account_id": "contexts_com_acme_account_1.0.id"}}]}`}
	typo := file{"typo.yaml", "sources:\n  - format: segment\n    fileds: {account_id: groupId}\n"}
	for _, c := range []struct {
		name       string
		flags      []string
		file       file
		topic      string
		wantFormat string
		wantPaths  []string // of account_id
		wantErr    string
	}{
		{name: "none is the envelope", topic: "dowser.events", wantFormat: "dowser", wantPaths: []string{"customer.account_id"}},
		{name: "a flag", flags: []string{"format=segment,account_id=properties.company"}, topic: "dowser.events", wantFormat: "segment", wantPaths: []string{"properties.company"}},
		{name: "a YAML file", file: yamlFile, topic: "web", wantFormat: "segment", wantPaths: []string{"properties.company"}},
		{name: "a JSON file", file: jsonFile, topic: "dowser.events", wantFormat: "snowplow", wantPaths: []string{"contexts_com_acme_account_1.0.id"}},
		{name: "another topic's leaves the envelope", file: yamlFile, topic: "dowser.events", wantFormat: "dowser", wantPaths: []string{"customer.account_id"}},
		{name: "a topic twice", flags: []string{"format=segment", "format=snowplow"}, topic: "dowser.events", wantErr: `source topic "dowser.events" is described twice`},
		{name: "a topic twice, by name", flags: []string{"format=segment", "topic=dowser.events,format=snowplow"}, topic: "dowser.events", wantErr: `source topic "dowser.events" is described twice`},
		{name: "a misspelt key", file: typo, topic: "dowser.events", wantErr: "field fileds not found"},
		{name: "an unknown field", flags: []string{"format=segment,acount_id=groupId"}, topic: "dowser.events", wantErr: `unknown field "acount_id"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			srcs, err := formats.Sources(c.flags, c.file.name, []byte(c.file.body), c.topic)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			src := srcs[0]
			m := src.Mapping()
			if m.Format() != c.wantFormat || !reflect.DeepEqual(m.Paths("account_id"), c.wantPaths) || src.Topic() != c.topic {
				t.Errorf("source %s format %s account_id %v; want %s, %s, %v", src.Topic(), m.Format(), m.Paths("account_id"), c.topic, c.wantFormat, c.wantPaths)
			}
		})
	}
}

// Several source topics: the events topic's first, the others in the
// order given, flags before the file's.
func TestSources(t *testing.T) {
	file := "sources:\n  - topic: app\n    format: snowplow\n    fields: {account_id: contexts_com_acme_account_1.0.id}\n"
	srcs, err := formats.Sources([]string{"topic=web,format=segment", "topic=events,format=cloudevents"}, "s.yaml", []byte(file), "events")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range srcs {
		got = append(got, s.Topic()+":"+s.Mapping().Format()+":"+strings.Join(s.Mapping().Paths("account_id"), "|"))
	}
	want := []string{"events:cloudevents:data.account_id|data.accountId", "web:segment:groupId|context.groupId", "app:snowplow:contexts_com_acme_account_1.0.id"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources = %q, want %q", got, want)
	}
	if _, err := formats.Sources([]string{"topic=web,format=segment"}, "s.yaml", []byte("sources: [{topic: web, format: snowplow}]"), "events"); err == nil ||
		!strings.Contains(err.Error(), `source topic "web" is described twice`) {
		t.Errorf("a topic in a flag and the file: error %v, want one naming web twice", err)
	}
}
