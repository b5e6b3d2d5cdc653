//! Board support for edgeserve: board profiles and their detection (to come with board support).
