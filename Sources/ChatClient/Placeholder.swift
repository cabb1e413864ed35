enum _ChatClientPlaceholder {}
