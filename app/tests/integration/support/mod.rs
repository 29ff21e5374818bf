//! Stand-ins for the one cloud service that cannot run here (ElevenLabs).

pub mod elevenlabs_fake;
