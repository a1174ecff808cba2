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

// EventsSource is the source of the events topic that flags (values of a
// SourceList) and a sources file (its name and bytes; none when name is
// empty) describe: Dowser's envelope when none does. One source topic is
// read, the events topic; a source without a topic is that topic's.
func EventsSource(flags []string, fileName string, fileData []byte, eventsTopic string) (*Source, error) {
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
	switch len(cfgs) {
	case 0:
		return NewSource(SourceConfig{Topic: eventsTopic})
	case 1:
	default:
		return nil, fmt.Errorf("%d sources are configured; Dowser reads one source topic, the events topic %q", len(cfgs), eventsTopic)
	}
	c := cfgs[0]
	if c.Topic == "" {
		c.Topic = eventsTopic
	}
	if c.Topic != eventsTopic {
		return nil, fmt.Errorf("source topic %q: Dowser reads one source topic, the events topic %q; set --events-topic=%s", c.Topic, eventsTopic, c.Topic)
	}
	src, err := NewSource(c)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", c.Topic, err)
	}
	return src, nil
}
