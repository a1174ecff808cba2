// Package validate checks the files under deploy/ with the parsers of the
// systems that read them.
package validate
