//! The JSON body extractor of the API: like `web::Json`, but only a JSON object is a request
//! body. (serde reads a struct from an array too, `["alice", "pw"]`, which no client means.)

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use natter_shared::ErrorKind;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let object =
            web::Json::<serde_json::Map<String, serde_json::Value>>::from_request(req, payload);
        Box::pin(async move {
            let object = object.await?.into_inner();
            serde_json::from_value(serde_json::Value::Object(object))
                .map(Body)
                .map_err(|e| {
                    ApiError::new(ErrorKind::InvalidRequest, format!("invalid body: {e}")).into()
                })
        })
    }
}
