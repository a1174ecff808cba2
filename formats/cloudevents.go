package formats

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/dowserhq/dowser/schema"
)

// Kafka header names of CloudEvents' binary mode (the Kafka protocol
// binding): each attribute is a header of its name prefixed with ce_,
// and the data's media type is the content-type header.
const (
	cePrefix          = "ce_"
	ceContentType     = "content-type"
	ceSpecVersionHead = cePrefix + "specversion"
)

// BinaryCloudEvent reports whether headers hold a CloudEvent in binary
// mode: they have ce_specversion.
func BinaryCloudEvent(headers []Header) bool {
	for _, h := range headers {
		if h.Key == ceSpecVersionHead {
			return true
		}
	}
	return false
}

// readCloudEvent reads a CloudEvent, binary when the headers say so, else
// structured. Paths name attributes (id, subject, an extension) and
// data.* the members of JSON data. The type is the type attribute,
// normalised; the properties are the data when it is a JSON object.
func readCloudEvent(m *Mapping, msg Message) (*reading, *Error) {
	var doc map[string]any
	r := &reading{}
	if BinaryCloudEvent(msg.Headers) {
		doc = map[string]any{}
		for _, h := range msg.Headers {
			switch {
			case strings.HasPrefix(h.Key, cePrefix):
				doc[h.Key[len(cePrefix):]] = string(h.Value)
			case strings.EqualFold(h.Key, ceContentType):
				doc["datacontenttype"] = string(h.Value)
			}
		}
		// Attributes are headers here: name them so.
		r.name = func(p string) string {
			if strings.HasPrefix(p, "data.") || p == "data" {
				return p
			}
			return cePrefix + p + " header"
		}
		if jsonData(doc) && len(msg.Value) > 0 {
			data, err := decodeData(msg.Value)
			if err != nil {
				return nil, &Error{Format: CloudEvents, Reason: err.Reason, Field: "data", Detail: "data: " + err.Detail}
			}
			doc["data"] = data
		}
	} else {
		var err *Error
		if doc, err = decodeObject(CloudEvents, msg.Value); err != nil {
			return nil, err
		}
		// data_base64, or data of another media type, is opaque: no
		// path reaches into it.
		if !jsonData(doc) {
			delete(doc, "data")
		}
	}
	r.doc = doc
	switch v := doc["specversion"].(type) {
	case nil:
		return nil, missing(CloudEvents, r.nameOf("specversion"))
	case string:
		if v != "1.0" {
			return nil, bad(CloudEvents, r.nameOf("specversion"), fmt.Sprintf("%q is not 1.0", v))
		}
	default:
		return nil, bad(CloudEvents, r.nameOf("specversion"), "expected a string, got "+jsonText(v))
	}
	for _, a := range []string{"source"} {
		if stringAt(doc, a) == "" {
			return nil, missing(CloudEvents, r.nameOf(a))
		}
	}
	r.typ, r.typeFrom = stringAt(doc, "type"), r.nameOf("type")
	if r.typ == "" && !m.overridden[fType] {
		return nil, missing(CloudEvents, r.typeFrom)
	}
	r.props = object(doc, "data")
	return r, nil
}

// jsonData reports whether the data is JSON: datacontenttype absent
// (JSON, in the JSON event format), application/json, text/json or any
// +json type.
func jsonData(doc map[string]any) bool {
	ct, _ := doc["datacontenttype"].(string)
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func decodeData(b []byte) (any, *Error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{Format: CloudEvents, Reason: schema.ReasonNotJSON, Detail: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &Error{Format: CloudEvents, Reason: schema.ReasonNotJSON, Detail: "not JSON: trailing data"}
	}
	return v, nil
}
