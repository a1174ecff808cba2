// Package csvimport reads a CSV file of directory records (users,
// accounts, contacts, content, do-not-track entries) for a bulk import and
// finds everything wrong with it before anything is written: unknown,
// repeated or missing columns, rows of the wrong width, values the REST API
// would refuse (the field rules of package dowser), ids and tokens given
// twice, and owners that are not users of a fitting role. Every problem
// names its line, so a file is fixed in one pass.
//
// It does no writing: the caller stores a [Batch] that has no problems.
// Owners are looked up through the small [UserRoles] interface.
//
// It imports only: dowser.
package csvimport
