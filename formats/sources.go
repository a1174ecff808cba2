package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// SourceList is a repeatable flag of sources, each value one source
// ([ParseSource]) or several separated by ";" (so that one environment
// variable can hold them all).
type SourceList []string

func (l *SourceList) String() string { return strings.Join(*l, ";") }

// Set checks and adds the sources of v.
func (l *SourceList) Set(v string) error {
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := ParseSource(s); err != nil {
			return err
		}
		*l = append(*l, s)
	}
	return nil
}

// ParseSourcesFile reads a sources file (a list under "sources", in YAML
// or JSON, which YAML reads as well) named name; unknown keys are errors,
// so that a misspelt "fileds" is not silently a source with no mapping.
func ParseSourcesFile(name string, data []byte) ([]SourceConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f struct {
		Sources []SourceConfig `yaml:"sources"`
	}
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f.Sources, nil
}

// Sources are the sources that flags (values of a SourceList) and a
// sources file (its name and bytes; none when name is empty) describe,
// the events topic's first: Dowser's envelope when none names it, as a
// source without a topic is the events topic's. Every other source is a
// topic of its own, read as well; a topic described twice is an error.
func Sources(flags []string, fileName string, fileData []byte, eventsTopic string) ([]*Source, error) {
	var cfgs []SourceConfig
	for _, s := range flags {
		c, err := ParseSource(s)
		if err != nil {
			return nil, fmt.Errorf("--source %q: %w", s, err)
		}
		cfgs = append(cfgs, c)
	}
	if fileName != "" {
		fromFile, err := ParseSourcesFile(fileName, fileData)
		if err != nil {
			return nil, fmt.Errorf("--sources-file: %w", err)
		}
		cfgs = append(cfgs, fromFile...)
	}
	events := SourceConfig{Topic: eventsTopic}
	var others []SourceConfig
	seen := map[string]bool{}
	for _, c := range cfgs {
		if c.Topic == "" {
			c.Topic = eventsTopic
		}
		if seen[c.Topic] {
			return nil, fmt.Errorf("source topic %q is described twice: one format and mapping a topic", c.Topic)
		}
		seen[c.Topic] = true
		if c.Topic == eventsTopic {
			events = c
		} else {
			others = append(others, c)
		}
	}
	out := make([]*Source, 0, 1+len(others))
	for _, c := range append([]SourceConfig{events}, others...) {
		src, err := NewSource(c)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", c.Topic, err)
		}
		out = append(out, src)
	}
	return out, nil
}
