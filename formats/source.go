package formats

import (
	"errors"
	"fmt"
	"strings"
)

// SourceConfig says how to read one source topic: its format, and the
// fields whose paths differ from the format's defaults.
type SourceConfig struct {
	// Topic is the Kafka topic; "" means the events topic.
	Topic string `json:"topic" yaml:"topic"`
	// Format is one of Names(); "" means Dowser.
	Format string `json:"format" yaml:"format"`
	// Fields maps a field name (FieldType...) to the path of the
	// message's field it is read from, e.g. account_id: properties.company.
	Fields map[string]string `json:"fields,omitempty" yaml:"fields,omitempty"`
}

// ParseSource parses a source as a flag gives it: comma-separated
// key=value pairs, topic and format, and any other key a field to map,
// e.g. "topic=web,format=segment,account_id=properties.company".
func ParseSource(s string) (SourceConfig, error) {
	var c SourceConfig
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return c, fmt.Errorf("%q is not key=value", kv)
		}
		switch k {
		case "topic":
			c.Topic = v
		case "format":
			c.Format = v
		default:
			if c.Fields == nil {
				c.Fields = map[string]string{}
			}
			if _, dup := c.Fields[k]; dup {
				return c, fmt.Errorf("field %s is mapped twice", k)
			}
			c.Fields[k] = v
		}
	}
	if c.Format == "" && len(c.Fields) > 0 {
		return c, errors.New("fields are mapped but no format= is given")
	}
	return c, nil
}

// Source reads the messages of one topic: with its own mapping, or, for
// a message whose headers name another format, that format's defaults.
// It is safe for concurrent use.
type Source struct {
	topic    string
	own      *Mapping
	defaults map[string]*Mapping
}

// NewSource checks cfg and returns its Source.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.Format == "" {
		cfg.Format = Dowser
	}
	own, err := NewMapping(cfg.Format, cfg.Fields)
	if err != nil {
		return nil, err
	}
	s := &Source{topic: cfg.Topic, own: own, defaults: map[string]*Mapping{}}
	for _, f := range Names() {
		if f != cfg.Format {
			s.defaults[f], _ = NewMapping(f, nil)
		}
	}
	return s, nil
}

// Topic is the source's topic; "" for the events topic.
func (s *Source) Topic() string { return s.topic }

// Mapping is the source's own mapping.
func (s *Source) Mapping() *Mapping { return s.own }

// For returns the mapping of a message in format: the source's own for ""
// or its own format, else that format's defaults.
func (s *Source) For(format string) (*Mapping, error) {
	if format == "" || format == s.own.format {
		return s.own, nil
	}
	if m := s.defaults[format]; m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("unknown format %q: not %s", format, orList(Names()))
}
