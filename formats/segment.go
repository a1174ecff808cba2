package formats

import (
	"fmt"
)

// readSegment reads a Segment (or RudderStack) spec message. The type
// comes from the call: a track call's event name (normalised: "Order
// Completed" is order_completed), page_view, screen_view, identify or
// group. Its properties are the call's properties, or its traits for
// identify and group.
func readSegment(m *Mapping, msg Message) (*reading, *Error) {
	doc, err := decodeObject(Segment, msg.Value)
	if err != nil {
		return nil, err
	}
	r := &reading{doc: doc}
	call, _ := doc["type"].(string)
	switch call {
	case "track":
		r.typ, r.typeFrom = stringAt(doc, "event"), "event"
		if r.typ == "" && !m.overridden[fType] {
			return nil, missing(Segment, "event")
		}
	case "page":
		r.typ, r.typeFrom = "page_view", "type"
	case "screen":
		r.typ, r.typeFrom = "screen_view", "type"
	case "identify", "group":
		r.typ, r.typeFrom = call, "type"
	default:
		if m.overridden[fType] {
			break // the mapping names the type elsewhere
		}
		if _, ok := doc["type"]; !ok || doc["type"] == nil {
			return nil, missing(Segment, "type")
		}
		return nil, bad(Segment, "type", fmt.Sprintf("%s is not track, page, screen, identify or group", jsonText(doc["type"])))
	}
	switch call {
	case "identify", "group":
		r.props = object(doc, "traits")
	default:
		r.props = object(doc, "properties")
	}
	// The page's name is a property of its own in the spec's page calls.
	if name := stringAt(doc, "name"); name != "" && (call == "page" || call == "screen") {
		if r.props == nil {
			r.props = map[string]any{}
		}
		if _, ok := r.props["name"]; !ok {
			r.props["name"] = name
		}
	}
	return r, nil
}

func stringAt(doc map[string]any, name string) string {
	s, _ := doc[name].(string)
	return s
}

// jsonText renders a decoded JSON value for a message: strings quoted,
// other values by kind.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return "JSON " + kind(v)
}
