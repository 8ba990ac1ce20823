//! The `#[examen_rt::test]` attribute.
//!
//! It turns one `async fn` test into a module holding two ordinary `#[test]` functions, `tokio` and
//! `smol`, each of which runs the same body under `examen_rt::run` on that backend. A test named
//! `channel_delivers_everything` therefore shows up as `channel_delivers_everything::tokio` and
//! `channel_delivers_everything::smol`, so a filter on the name runs both and a failure names the
//! backend it happened on.

#![warn(missing_docs, missing_debug_implementations)]

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ItemFn};

/// Runs an `async fn` test once on each backend (tokio and smol).
///
/// The function may return `()` or any type a `#[test]` function may return, such as
/// `Result<(), E>`. Other attributes (for example `#[cfg(unix)]`) are kept on both variants.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[examen_rt::test] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let input = parse_macro_input!(item as ItemFn);
    if input.sig.asyncness.is_none() {
        return syn::Error::new_spanned(
            input.sig.fn_token,
            "#[examen_rt::test] expects an `async fn`",
        )
        .to_compile_error()
        .into();
    }
    if !input.sig.inputs.is_empty() {
        return syn::Error::new_spanned(
            &input.sig.inputs,
            "#[examen_rt::test] functions take no arguments",
        )
        .to_compile_error()
        .into();
    }
    let name = &input.sig.ident;
    let output = &input.sig.output;
    // Only `cfg` attributes carry over to the generated module: the rest belong to the function.
    let cfgs = input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));
    let expanded = quote! {
        #input

        #(#cfgs)*
        mod #name {
            #[test]
            fn tokio() #output {
                ::examen_rt::run(::examen_rt::Backend::Tokio, super::#name())
            }

            #[test]
            fn smol() #output {
                ::examen_rt::run(::examen_rt::Backend::Smol, super::#name())
            }
        }
    };
    expanded.into()
}
