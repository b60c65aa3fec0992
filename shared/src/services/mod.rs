//! What several functions do the same way, over the store and the adapters: assignment,
//! automatic messages, AI-agent deliveries, media and oversized-event objects, the warm cache
//! of Pages.

pub mod ai_agent;
pub mod assignment;
pub mod automatic;
pub mod instagram_webhook;
pub mod media;
pub mod page_cache;
pub mod spill;
pub mod ttl_map;
pub mod webhooks;
