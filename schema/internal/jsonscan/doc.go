// Package jsonscan scans JSON held in memory, fast and with little garbage,
// for schema's event decoder: a [Scanner] that checks the syntax as
// encoding/json does (and fails with encoding/json's words), and decodes
// strings, numbers and untyped values as encoding/json decodes them into an
// any; a [Table] of recently seen strings so that repeated ones cost no
// allocation; [FoldIndex] to match member names as encoding/json matches
// field names; and [ParseTime] for RFC 3339 times.
//
// Its use of unsafe is confined to unsafe.go. It does no I/O and keeps no
// package-level state.
//
// It imports no other Dowser package.
package jsonscan
