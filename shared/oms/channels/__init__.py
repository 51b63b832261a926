"""The sales channels, one package each (shopify, woocommerce, shopee, lazada, tiktok, tokopedia),
found through registry.SPECS; common, marketplace, signatures and delivery are what they share.

Pure: no I/O, no boto3, nothing from oms.adapters.
"""
