//! The custom-handler protocol and server. Filled by the function-app work.
