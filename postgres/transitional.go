package postgres

import "github.com/dowserhq/dowser"

// The domain's names, as this package spelled them before they moved to
// package dowser.
//
// Deprecated: transitional, removed after the #12 merge. Use package
// dowser's.
type (
	User          = dowser.User
	Account       = dowser.Account
	Content       = dowser.Content
	Contact       = dowser.Contact
	TerritoryRule = dowser.TerritoryRule
	UserRole      = dowser.Owner
)

// Deprecated: transitional, removed after the #12 merge. Use package
// dowser's.
const (
	RoleRep      = dowser.RoleRep
	RoleMarketer = dowser.RoleMarketer
	RoleAdmin    = dowser.RoleAdmin
	RoleSource   = dowser.RoleSource
	RoleManager  = dowser.RoleManager
	// MinTokenLength is the shortest login token accepted from an admin.
	MinTokenLength = dowser.MinTokenLen
)

// ErrNotFound is dowser.ErrNotFound.
//
// Deprecated: transitional, removed after the #12 merge.
var ErrNotFound = dowser.ErrNotFound

// CheckToken returns why token is too weak to be a login token, or nil.
//
// Deprecated: transitional, removed after the #12 merge. Use
// dowser.CheckToken.
func CheckToken(token string) error { return dowser.CheckToken(token) }
