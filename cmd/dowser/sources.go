package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dowserhq/dowser/formats"
)

// sourceList is the repeatable --source flag: each value one source
// (formats.ParseSource), or several separated by ";" (so that one
// DOWSER_SOURCE variable can hold them all).
type sourceList []string

func (l *sourceList) String() string { return strings.Join(*l, ";") }

func (l *sourceList) Set(v string) error {
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := formats.ParseSource(s); err != nil {
			return err
		}
		*l = append(*l, s)
	}
	return nil
}

// sourcesFile is the file --sources-file names: a list of sources, in
// YAML or JSON (which YAML reads as well).
type sourcesFile struct {
	Sources []formats.SourceConfig `yaml:"sources"`
}

// parseSourcesFile reads a sources file; unknown keys are errors, so that
// a misspelt "fileds" is not silently a source with no mapping.
func parseSourcesFile(name string, data []byte) ([]formats.SourceConfig, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f sourcesFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f.Sources, nil
}

// eventsSource is the source of the events topic that the --source flags
// and the --sources-file describe: Dowser's envelope when none does. One
// source topic is read, the events topic; a source without a topic is
// that topic's.
func eventsSource(flags []string, file, eventsTopic string) (*formats.Source, error) {
	var cfgs []formats.SourceConfig
	for _, s := range flags {
		c, err := formats.ParseSource(s)
		if err != nil {
			return nil, fmt.Errorf("--source %q: %w", s, err)
		}
		cfgs = append(cfgs, c)
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--sources-file: %w", err)
		}
		fromFile, err := parseSourcesFile(file, data)
		if err != nil {
			return nil, fmt.Errorf("--sources-file: %w", err)
		}
		cfgs = append(cfgs, fromFile...)
	}
	switch len(cfgs) {
	case 0:
		return formats.NewSource(formats.SourceConfig{Topic: eventsTopic})
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
	src, err := formats.NewSource(c)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", c.Topic, err)
	}
	return src, nil
}
