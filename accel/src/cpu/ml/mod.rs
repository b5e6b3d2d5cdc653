//! The `ai.onnx.ml` operators skl2onnx and onnxmltools emit, as tract ops registered in
//! tract-onnx's op register (keyed by op type; the domain is not looked at). One module per op;
//! each parses its attributes at load and computes in plain Rust with onnxruntime's semantics,
//! so outputs match onnxruntime's.
//!
//! tract-onnx 0.23.9 already runs `CategoryMapper`, `LinearClassifier`, `LinearRegressor`,
//! `Normalizer` and `ArrayFeatureExtractor`; those are left alone. Its `TreeEnsembleClassifier`
//! is replaced (it evaluates `BRANCH_GTE` nodes as leaves).

mod binarizer;
mod common;
mod feature_vectorizer;
mod imputer;
mod label_encoder;
mod one_hot_encoder;
mod scaler;
mod svm;
mod svm_classifier;
mod svm_regressor;
mod tree_ensemble;
mod tree_ensemble_classifier;
mod tree_ensemble_regressor;
mod trees;
mod zipmap;

#[cfg(test)]
mod tests;

/// Inserts the builders of the ONNX-ML ops of this module into `onnx.op_register`,
/// replacing tract's own where it has one: `TreeEnsemble` (opset 5), `TreeEnsembleRegressor`,
/// `TreeEnsembleClassifier`, `SVMRegressor`, `SVMClassifier`, `Scaler`, `Binarizer`,
/// `Imputer`, `LabelEncoder`, `OneHotEncoder`, `FeatureVectorizer` and `ZipMap` (an identity on
/// its probabilities).
pub fn register(onnx: &mut tract_onnx::Onnx) {
    let reg = &mut onnx.op_register;
    reg.insert("TreeEnsemble", tree_ensemble::builder);
    reg.insert("TreeEnsembleRegressor", tree_ensemble_regressor::builder);
    reg.insert("TreeEnsembleClassifier", tree_ensemble_classifier::builder);
    reg.insert("SVMRegressor", svm_regressor::builder);
    reg.insert("SVMClassifier", svm_classifier::builder);
    reg.insert("Scaler", scaler::builder);
    reg.insert("Binarizer", binarizer::builder);
    reg.insert("Imputer", imputer::builder);
    reg.insert("LabelEncoder", label_encoder::builder);
    reg.insert("OneHotEncoder", one_hot_encoder::builder);
    reg.insert("FeatureVectorizer", feature_vectorizer::builder);
    reg.insert("ZipMap", zipmap::builder);
}
