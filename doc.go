// Package dowser is Dowser's domain: the people who use it (users and
// their roles), the records they maintain (accounts with their lifecycle,
// content, contacts, territory rules) and the rules every value of those
// records follows. Each record type has a Validate method; the REST API,
// the importer, the store and routing all use these types and rules, so
// that a value is accepted or refused the same way everywhere.
//
// It imports only: schema.
package dowser
