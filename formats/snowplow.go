package formats

import (
	"maps"
	"strings"
)

// readSnowplow reads an enriched event in the Analytics SDK's JSON form.
// The type is event_name (page_view, or a self-describing event's schema
// name such as link_click), else event; a structured event's (event
// struct) is its se_action. Its properties are the structured event's
// se_* fields and the self-describing event's data (the members of its
// unstruct_event_* object).
func readSnowplow(m *Mapping, msg Message) (*reading, *Error) {
	doc, err := decodeObject(Snowplow, msg.Value)
	if err != nil {
		return nil, err
	}
	// The TSV's form of a time, which some pipelines keep in JSON.
	r := &reading{doc: doc, layouts: []string{"2006-01-02 15:04:05.999999999"}}
	switch {
	case stringAt(doc, "event") == "struct":
		r.typ, r.typeFrom = stringAt(doc, "se_action"), "se_action"
	case stringAt(doc, "event_name") != "":
		r.typ, r.typeFrom = stringAt(doc, "event_name"), "event_name"
	default:
		r.typ, r.typeFrom = stringAt(doc, "event"), "event"
	}
	if r.typ == "" && !m.overridden[fType] {
		if r.typeFrom == "se_action" {
			return nil, missing(Snowplow, "se_action")
		}
		return nil, missing(Snowplow, "event_name", "event")
	}
	props := map[string]any{}
	for _, k := range []string{"se_category", "se_action", "se_label", "se_property", "se_value"} {
		if v, ok := doc[k]; ok && v != nil {
			props[k] = v
		}
	}
	for k, v := range doc {
		if data, ok := v.(map[string]any); ok && strings.HasPrefix(k, "unstruct_event_") {
			maps.Copy(props, data)
		}
	}
	if len(props) > 0 {
		r.props = props
	}
	return r, nil
}
