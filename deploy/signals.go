// Package deploy holds what is shipped beside the binary: container and
// cluster manifests, and the default signal pack, embedded here so that
// `dowser demo` can load it.
//
// It imports no other Dowser package.
package deploy

import "embed"

// Signals is the default signal pack, deploy/signals/*.yaml.
//
//go:embed signals/*.yaml
var Signals embed.FS
