package main

import "strconv"

// createTopicsFlag is --kafka-create-topics, true by default, stored
// inverted so that a serveConfig built in code creates topics.
type createTopicsFlag struct{ no *bool }

func (f createTopicsFlag) String() string {
	if f.no == nil {
		return "true"
	}
	return strconv.FormatBool(!*f.no)
}

func (f createTopicsFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*f.no = !b
	return nil
}

func (createTopicsFlag) IsBoolFlag() bool { return true }
