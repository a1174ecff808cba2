package schema

// Revocation says that some credential of a user ended: a session was
// logged out, the token rotated, the user disabled or deleted. Seq orders
// revocations as they were committed; whoever holds a credential of the
// user checks it again.
type Revocation struct {
	Seq    int64
	UserID string
}
