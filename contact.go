package dowser

// Contact is a person (a customer id of the events) with a rep of their
// own, who receives their alerts before their account's owner does, and
// optionally the account they belong to.
type Contact struct {
	ID        string `json:"id"`
	OwnerID   string `json:"owner"`
	AccountID string `json:"account_id"`
}

// Validate checks every field of the contact; a [Problems] names every
// field refused. That the owner is a user who may own it is the caller's
// to check ([CheckOwner]).
func (c Contact) Validate() error {
	return checkFields(KindContacts, "id", c.ID, "owner", c.OwnerID, "account_id", c.AccountID).Err()
}
