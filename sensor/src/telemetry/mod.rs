//! TODO-module placeholder (being written).
