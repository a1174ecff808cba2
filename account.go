package dowser

import "github.com/dowserhq/dowser/schema"

// An account's lifecycle: the values of an event's customer.lifecycle.
const (
	LifecycleProspect = schema.LifecycleProspect
	LifecycleCustomer = schema.LifecycleCustomer
)

// Account is a customer organisation, owned by a rep. Region, Industry and
// Size are its territory attributes: an account without an owner goes to
// the rep of the first territory rule they match.
type Account struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	OwnerID   string `json:"owner"`
	Lifecycle string `json:"lifecycle"`
	Region    string `json:"region"`
	Industry  string `json:"industry"`
	Size      string `json:"size"`
}

// Validate checks every field of the account, whose Lifecycle must be set
// (see [DefaultLifecycle]); a [Problems] names every field refused. That
// the owner is a user who may own it is the caller's to check
// ([CheckOwner]).
func (a Account) Validate() error {
	return checkFields(KindAccounts, "id", a.ID, "name", a.Name, "owner", a.OwnerID, "lifecycle", a.Lifecycle,
		"region", a.Region, "industry", a.Industry, "size", a.Size).Err()
}

// DefaultLifecycle returns lc, or prospect when lc is empty: an account
// saved without a lifecycle (through the API or an import) is a prospect.
func DefaultLifecycle(lc string) string {
	if lc == "" {
		return LifecycleProspect
	}
	return lc
}

// FillLifecycle gives an event's customer who names no lifecycle the
// lifecycle of their account, as lookup returns it: "" for an account it
// does not know leaves the lifecycle unset, which the detector reads as
// prospect. A customer without an account, or with a lifecycle, is left
// alone and lookup is not called. The event path, the backtest and the
// benchmark all fill lifecycles with it.
func FillLifecycle(c *schema.Customer, lookup func(accountID string) (string, error)) error {
	if c.Lifecycle != "" || c.AccountID == "" {
		return nil
	}
	lc, err := lookup(c.AccountID)
	if err != nil {
		return err
	}
	c.Lifecycle = lc
	return nil
}
