/// Base URLs of the Zoom services; [`Default`] is the real Zoom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// OAuth host; the token endpoint is `{oauth_base}/oauth/token`.
    pub oauth_base: String,
    /// REST host, used when the token response carries no `api_url`.
    pub api_base: String,
    /// WebSocket event endpoint (without query string).
    pub ws_url: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            oauth_base: "https://zoom.us".into(),
            api_base: "https://api.zoom.us".into(),
            ws_url: "wss://ws.zoom.us/ws".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_real_zoom() {
        let e = Endpoints::default();
        assert_eq!(e.oauth_base, "https://zoom.us");
        assert_eq!(e.api_base, "https://api.zoom.us");
        assert_eq!(e.ws_url, "wss://ws.zoom.us/ws");
    }
}
